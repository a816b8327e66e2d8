import Launcher
ShardsCommand.main()
