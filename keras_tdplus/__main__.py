import os
import sys

# TensorFlow's C++ start-up lines drown the CLI's output; a user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_tdplus.cli import main  # noqa: E402

sys.exit(main())
