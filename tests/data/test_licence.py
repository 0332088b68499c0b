"""A dataset README's licence statement, as model cards copy it."""

from __future__ import annotations

from pathlib import Path

from restorekit.data.licence import MAX_CHARS, readme_licence


def test_bullet_with_its_continuation_lines(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "# Set\n\n- Files: 3 PNG\n- License: NON-COMMERCIAL use only; the repository's\n"
        "  License.txt says so.\n- Overlap: none\n")
    assert readme_licence(tmp_path) == ("NON-COMMERCIAL use only; the repository's "
                                        "License.txt says so.")
    sub = tmp_path / "part"
    sub.mkdir()
    assert readme_licence(sub) == readme_licence(tmp_path)  # a dataset's sub-folder


def test_section_under_a_licence_heading_and_none(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Digits\n\n## Licence statements seen\n"
                                        "- CC BY-SA 3.0 per the authors.\n\n## Use\nsomething\n")
    assert readme_licence(tmp_path) == "CC BY-SA 3.0 per the authors."
    (tmp_path / "README.md").write_text("# Nothing about terms\n" + "x " * 2000)
    assert readme_licence(tmp_path) is None
    (tmp_path / "README.md").write_text("- Licence: " + "long " * 500)
    assert len(readme_licence(tmp_path)) == MAX_CHARS
    assert readme_licence(tmp_path / "a" / "b") is None  # no README there nor in its parent


def test_a_bullet_ending_on_a_colon_takes_the_quoted_block(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "- License: NON-COMMERCIAL use only. Its License.txt, verbatim:\n\n```\n"
        "Copyright (c) 2018\n  Use for research only.\n```\n\n- Next: x\n")
    assert readme_licence(tmp_path) == ("NON-COMMERCIAL use only. Its License.txt, verbatim: "
                                        "Copyright (c) 2018 Use for research only.")


def test_an_empty_licence_heading_does_not_hide_a_later_statement(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("## License\n\n## Files\n- License: CC0\n")
    assert readme_licence(tmp_path) == "CC0"
