"""Tests of vaecourse.widgets on the kernel side, and of the JavaScript bundles without a browser."""
