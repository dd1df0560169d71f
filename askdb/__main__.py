from askdb.cli import main

main()
