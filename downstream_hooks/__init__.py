"""The glue to s3prl: registering the plugin, compatibility with today's torch stack, and running s3prl's runners."""
