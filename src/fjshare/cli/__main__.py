from fjshare.cli.main import main

main()
