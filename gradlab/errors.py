"""The one family of errors a user can cause; the CLI catches it once and maps it to an exit code."""


class GradlabError(Exception):
    """Something the user can fix. The message says what to do; ``exit_code`` is what the CLI returns."""

    exit_code = 1

    def lines(self) -> list[str]:
        """The message as the CLI prints it: the first line after ``error:``, each further one indented below."""
        return [str(self)]


class ConfigError(GradlabError):
    """A config file, override or command-line value that does not validate."""

    exit_code = 2

    def __init__(self, problems: list[str], source: str = "config"):
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join([self.heading, *("  " + p for p in self.problems)]))

    @property
    def heading(self) -> str:
        """``x.yaml: 3 problems``."""
        n = len(self.problems)
        return f"{self.source}: {n} problem{'s' if n != 1 else ''}"

    def lines(self) -> list[str]:
        # a single problem already names its file and line, so it needs no heading
        return list(self.problems) if len(self.problems) == 1 else [self.heading, *self.problems]


class DataError(GradlabError):
    """A dataset that cannot be built (missing file, missing optional dependency, bad column)."""

    exit_code = 2


class ResultsError(GradlabError):
    """A results directory that is missing, incomplete or would be overwritten."""

    exit_code = 2


class UsageError(GradlabError):
    """A command-line argument that makes no sense (an unknown registry name, a bad path)."""

    exit_code = 2


class ResourceError(GradlabError):
    """A run that would need more memory than the machine can give: refused before anything is allocated."""

    exit_code = 2


class FaultError(GradlabError):
    """Something outside the user's input went wrong (a read-only folder, a full disk, a corrupt results
    file, a lost worker): exit 1, one line saying what failed and where."""

    exit_code = 1


def io_fault(action: str, path, exc: OSError) -> FaultError:
    """A FaultError for an OSError: ``cannot write results/x/summary.json: No space left on device``."""
    reason = exc.strerror or type(exc).__name__
    return FaultError(f"cannot {action} {path}: {reason}")
