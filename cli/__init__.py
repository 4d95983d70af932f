"""The `orderlens` command line and the main job (`orderlens demo`): the top of the layout, the
only place besides `pipelines/` that composes stages."""
