from fjshare.cli.main import entry

entry()
