"""Engine test course: few Hypothesis examples, so the whole hostile set stays fast."""
from hypothesis import settings

settings.register_profile("engine-cases", max_examples=15)
settings.load_profile("engine-cases")
