"""What :class:`numrnn.model.Sequential` is made of besides its layers: the fit loop and
its data handling, and streaming."""
