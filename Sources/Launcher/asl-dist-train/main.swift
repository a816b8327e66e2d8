// asl-dist-train: the training executable (see Launcher/Core/Commands/DistTrainCommand.swift).
import Launcher

DistTrainCommand.main(arguments: Array(CommandLine.arguments.dropFirst()))
