"""optograph.tools"""
