"""Teaching: tutor mode (the student types, the tool checks), the lab shell, step-through demos
(``--step``) and ``lab.test`` for lab authors. Application code over the core and the effects."""
