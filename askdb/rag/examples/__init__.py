"""Verified examples added without the chat: the book (``book``) and its commands (``cli``).

Kept empty so that ``askdb --help`` loads the commands without the index code behind them.
"""
