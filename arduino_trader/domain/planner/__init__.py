"""The holistic planner: opportunities, sequences, simulation, evaluation, beam search."""
