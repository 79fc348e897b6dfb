"""The audio modality: folk tunes in ABC notation as character sequences, learned by the text modality's sequence
models (reached through :mod:`genforge.text`'s public functions, a dependency declared in
:data:`genforge.audio.modality.AudioModality.uses` and in dvc.yaml), checked by music21, rendered to MIDI and WAV
with a General MIDI soundfont, and scored by bits per character and by pitch-class, interval and note-length
histograms against held-out tunes."""
