"""Generated files (Dockerfiles, cibuildwheel configurations, workflows, the README's
recipes), rendered from the plan and templates/, committed, and checked for drift."""

from wheel_matrix.render.files import (
    GENERATED_DIRS,
    HEADER,
    README,
    RECIPES_END,
    RECIPES_START,
    REPO_ROOT,
    Generated,
    drift,
    newest_pypi_recipes,
    read_readme,
    render,
    write,
)

__all__ = [
    "GENERATED_DIRS",
    "HEADER",
    "README",
    "RECIPES_END",
    "RECIPES_START",
    "REPO_ROOT",
    "Generated",
    "drift",
    "newest_pypi_recipes",
    "read_readme",
    "render",
    "write",
]
