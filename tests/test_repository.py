"""The repository keeps its promises to a fresh machine: the README's test command is what CI runs."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_readme_gives_exactly_two_commands_main_job_and_tests():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    main_job, tests = commands
    assert "experiments/mnist" in main_job
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command():
    _, tests = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines()


def test_main_job_script_exists():
    main_job, _ = _readme_commands()
    script = re.search(r"(experiments/\S+\.py)", main_job).group(1)
    assert (ROOT / script).is_file()
