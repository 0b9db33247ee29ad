"""User-defined cells: equations to SymPy (:mod:`.maths`), SymPy to compiled code (:mod:`.codegen`).

Imported only by :func:`numrnn.cells.define_cell`: ``import numrnn`` does not need SymPy.
"""
