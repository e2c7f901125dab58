"""Turn a folder of files into a searchable index. Knows nothing of chat.

``loader`` reads files into articles, ``splitter`` cuts them into chunks with offsets,
``embeddings`` makes the embedding model, ``index`` embeds, stores, saves and searches.
"""
