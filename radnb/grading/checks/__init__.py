"""Checks for the curriculum's exercises: one module per notebook.

``nb00_welcome.py`` holds notebook 00's checks, ``nb01_dicom.py`` notebook 01's,
and so on: the two digits after ``nb`` tie a check to its notebook (the score
table of ``notebooks/01_*.ipynb`` lists every check registered in ``nb01_*.py``).
Modules here are imported on first use by :func:`radnb.grading.registry.discover`;
a module that fails to import does not break the others.

See ``docs/CURRICULUM.md`` ("Adding an exercise") for how to write one.
"""
