"""Fine-tuning: SFT data in the assistant's own prompt format, and deployment of a GGUF to Ollama.

``data`` needs only askdb's core; reading GGUF files and llama.cpp's vocab files needs the
``finetune`` extra (``pip install 'askdb[finetune]'``), imported where used.
"""
