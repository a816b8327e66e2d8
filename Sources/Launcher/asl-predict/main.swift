import Launcher
PredictCommand.main()
