"""optograph.tasks"""
