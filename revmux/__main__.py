from revmux.cli import main

raise SystemExit(main())
