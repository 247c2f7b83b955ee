"""optograph.agent"""
