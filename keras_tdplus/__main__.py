import sys

from keras_tdplus.cli import main

sys.exit(main())
