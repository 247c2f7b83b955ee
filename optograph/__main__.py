from optograph.tasks.cli import main

raise SystemExit(main())
