"""Load tests: bounded (they stop by themselves, in well under a minute), on 127.0.0.1 only, part of
the default suite. Their one-line summaries are repeated at the end of the pytest run."""

import pytest

SUMMARIES = pytest.StashKey[list[str]]()


def pytest_configure(config):
    config.addinivalue_line("markers", "load: a bounded load test against a real server on 127.0.0.1")
    config.stash[SUMMARIES] = []


def pytest_terminal_summary(terminalreporter, config):
    if config.stash.get(SUMMARIES, []):
        terminalreporter.section("load")
        for line in config.stash[SUMMARIES]:
            terminalreporter.write_line(line)


@pytest.fixture
def report_load(request):
    """Prints a summary line (visible with -s) and repeats it in the run's terminal summary."""

    def report(line: str) -> None:
        print(line, flush=True)
        request.config.stash[SUMMARIES].append(line)

    return report
