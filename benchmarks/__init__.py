"""standin.benchmarks: suites, the runner, reports and the command line."""
