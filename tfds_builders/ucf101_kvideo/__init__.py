"""UCF101 with the three official splits (`ucf101_kvideo`)."""
