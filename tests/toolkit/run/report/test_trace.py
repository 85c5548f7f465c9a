"""report.html's small parts: axis labels that tell bunched ticks apart, and SMC's resampling section."""

from noisesearch.run.report.page import tick_labels
from noisesearch.run.report.trace import trace_section


def test_tick_labels_take_the_digits_that_tell_bunched_scores_apart():
    assert tick_labels([0.99901, 0.99945, 0.99989]) == ["0.999", "0.9994", "0.9999"]  # .3g gave 0.999 three times
    assert tick_labels([0.0, 0.5, 1.0]) == ["0", "0.5", "1"]
    assert tick_labels([1.0, 1.0000004, 1.0000008]) == ["1", "1.0000004", "1.0000008"]


def test_the_resampling_section_lists_every_weighed_level():
    levels = [{"level": 2, "ess": 1.25, "resampled": True, "survivors": 2},
              {"level": 7, "ess": 13.0, "resampled": False, "survivors": 13}]
    section = trace_section({"k": 13, "levels": levels})
    assert section.count("<tr><td>") == 2 and "ESS of 13" in section
    assert 'class="ess" data-value="1.25"' in section and 'class="survivors" data-value="13"' in section
    assert ">7*</text>" in section and ">2</text>" in section  # the level not resampled is marked
    assert trace_section(None) == "" and trace_section({"k": 4, "levels": []}) == ""
