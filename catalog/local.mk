# catalog: see the top-level Makefile.am
