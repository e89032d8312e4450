"""The Model Context Protocol channel: the node's operations as tools, its content as
resources, its events as resource updates, for AI agents (the official ``mcp`` SDK).

- :mod:`.schema`: JSON Schemas of the registry's typed parameters and results;
- :mod:`.tools`: the tools, generated from the registry, and their model-sized results;
- :mod:`.resources`: ``ipfs://{cid}[/{path}]`` and the pins as resources;
- :mod:`.live`: the event bus as ``subscriptions/listen`` change events;
- :mod:`.server`: the SDK server over a node (or over a running server, for ``ipfs-kit mcp``);
- :mod:`.http`: Streamable HTTP at ``/mcp``, behind the access guard;
- :mod:`.stdio`: ``ipfs-kit mcp`` (stdio).

See docs/mcp.md.
"""
