# agent: see the top-level Makefile.am
