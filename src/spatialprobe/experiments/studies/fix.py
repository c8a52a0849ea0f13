"""The fix: Lost in Space's protocol on object-aware connectors (seen and unseen predicates apart)."""

from spatialprobe.experiments.studies import lost_in_space
from spatialprobe.experiments.studies._base import STUDIES, Study


def steps(ctx, options: dict) -> list:
    return lost_in_space.steps(ctx, options, study="fix")


def section(results, options: dict, scenes) -> list:
    from spatialprobe.report import Text

    note = Text("The object-aware objectives saw only the dataset's *seen* predicates (`relation` reports seen and unseen apart); "
                "compare each model with the coarse-caption connector of the Lost in Space section.")
    return [note] + lost_in_space.section(results, options, scenes, study="fix")


STUDIES.register("fix", Study("fix", "The fix: object-aware connectors", steps, section, options=lost_in_space.OPTIONS,
                                  model_options=("models", "references")))
