def make_stepper(cell, params_list, dtype): raise NotImplementedError
