"""HMDB51 with the three official splits (`hmdb51_kvideo`)."""
