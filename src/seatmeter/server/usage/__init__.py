"""The usage engine's first half: who a host user is on Autodesk's side
(identity), which product pools entitle an application (products), and
the pool each session is counted against (attribution)."""
