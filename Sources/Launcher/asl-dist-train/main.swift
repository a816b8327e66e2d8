import Launcher
DistTrainCommand.main()
