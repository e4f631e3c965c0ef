"""Build backends: ``host`` (this machine's toolchain, CUDA 13 from PyPI) and ``container``
(cibuildwheel in a rendered devel image), with the toolkit and compile cache they share."""
