from torchwarden.cli import main

main()
