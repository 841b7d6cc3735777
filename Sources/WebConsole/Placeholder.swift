// WebConsole module.
