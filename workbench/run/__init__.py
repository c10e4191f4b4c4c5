"""Running suites and writing reports: the command line, suites, config, results.json, HTML pages."""
