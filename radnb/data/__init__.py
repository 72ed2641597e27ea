"""Data for radnb: synthetic phantoms (:mod:`radnb.data.synthetic`), downloads
(:mod:`radnb.data.fetch`), public datasets (:mod:`radnb.data.datasets`) and
pretrained weights (:mod:`radnb.data.weights`)."""
