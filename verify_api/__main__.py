from verify_api.cli.main import main

main()
