"""Everything that measures: the node, the target process, its Python stacks, and the load driver."""
