"""The glue to s3prl: registering the plugin, patching s3prl through one checked helper, running its runners in-process (and under torchrun), and reading their results."""
