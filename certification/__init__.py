"""Certification (spec step 4): who may ask for it, the image review, the plugin suite.

Pure code, no Temporal and no database: the workflows call it from activities.

    refusal = certification_refusal(manifest)            # certification.eligibility
    review = review_image(ref, policy=ReviewPolicy(...))  # certification.best_practices
    suite = await run_plugin_suite("http://127.0.0.1:9000")  # certification.plugin_suite
"""
