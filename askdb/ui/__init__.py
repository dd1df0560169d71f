"""The Gradio chat. Gradio is imported only inside ``askdb.ui.app``: ``pip install 'askdb[ui]'``."""
